# Modelled on: https://datascience.stackexchange.com/questions/124637 ("Neural Net not able to learn simple
#   analytical equation"): a PyTorch beginner fits a five-input engineering formula whose inputs span 1e-6 to
#   5e4, drawing fresh batches of 32 with a get_batch() helper and training on a relative L1 loss; the
#   losses stay above 0.5.
# Source: get_batch(n) sampling the five inputs in their ranges and computing the formula; a small MLP;
#   Adam; a loop printing the loss.
# What differs: the assignment's formula and ranges (the same shape of problem); nn.Tanh; 1,500 batches.
# Mistake: raw inputs of wildly different scales into the first layer (the answer on SO 52800582 for the
#   same symptom: values too large for the initial weights; normalise).
# corpus: assignment=engineering-formula expect=fail cause=unnormalised_inputs
import numpy as np
import torch
import torch.nn as nn


def get_batch(n=32):
    x1 = np.random.uniform(500, 1000, n)
    x2 = 10 ** np.random.uniform(0, 3, n)
    x3 = 10 ** np.random.uniform(3, np.log10(5e4), n)
    x4 = 10 ** np.random.uniform(-6, -3, n)
    x5 = 10 ** np.random.uniform(0, 4, n)
    y = x5 / x2 - (x1 - x2) / (2 * x3 * x4) * x2 / x1
    X = np.stack([x1, x2, x3, x4, x5], axis=1)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32).unsqueeze(1)


net = nn.Sequential(nn.Linear(5, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
for it in range(1500):
    X, y = get_batch()
    loss = torch.mean(torch.abs(net(X) - y) / torch.clamp(torch.abs(y), min=1.0))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if it % 500 == 0:
        print(it, loss.item())
