# Modelled on: https://github.com/MC-E/Deep-Generalized-Unfolding-Networks-for-Image-Restoration/issues/6 and
#   https://github.com/ronghuaiyang/arcface-pytorch/issues/56 (the loss rebuilt with torch.tensor(...,
#   requires_grad=True) or loss.requires_grad = True after "element 0 of tensors does not require grad";
#   then the loss never decreases)
# Source: a loss assembled from numbers taken out of the graph, made differentiable again by hand.
# What differs: the heat-transfer correlation on log inputs (a sound model otherwise); the per-batch loss
#   computed in numpy (as "relative error" in percent) and wrapped back into a tensor.
# Mistake (isayev/ReLeaSE#39's maintainer): that detaches the loss from the graph, "there is nothing to
#   backpropagate".
# corpus: assignment=heat-transfer expect=fail cause=loss_not_connected
import numpy as np
import torch
import torch.nn as nn

Re = 10 ** np.random.uniform(4, 6, 1000)
Pr = 10 ** np.random.uniform(np.log10(0.7), np.log10(160), 1000)
Nu = 0.023 * Re**0.8 * Pr**0.4


class NusseltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, x):
        return torch.exp(self.body(torch.log(x)))


model = NusseltNet()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
X = torch.tensor(np.column_stack([Re, Pr]), dtype=torch.float32)
for epoch in range(300):
    pred = model(X).detach().numpy().ravel()
    relative = np.mean(np.abs(pred - Nu) / Nu) * 100
    loss = torch.tensor(relative, requires_grad=True)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 50 == 0:
        print(f"epoch {epoch}: {relative:.2f}% off")
