# Modelled on: https://github.com/sksq96/pytorch-summary/issues/181 (the README's summary(model, input_size)
#   call on a model kept on the CPU) and https://github.com/joosthub/pytorch-nlp-tutorial-ny2018/issues/2
#   (a tqdm progress bar over the epochs, updated as training goes)
# Source: a model printed with torchsummary.summary before training, and a training loop wrapped in
#   tqdm(range(epochs)) that shows the loss in the bar's postfix.
# What differs: the paraboloid; a 2-64-64-1 network with F.relu; summary(..., device="cpu") as the
#   torchsummary answers (#36, #57) advise; torchinfo's summary too.
# Mistake: none; both packages are in the sandbox.
# corpus: assignment=paraboloid expect=pass
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchinfo import summary as info
from torchsummary import summary
from tqdm import tqdm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 1)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


points = np.random.random((2000, 2)).astype(np.float32)
X = torch.from_numpy(points)
Y = torch.from_numpy((points**2).sum(axis=1, keepdims=True))

model = Net()
summary(model, (2,), device="cpu")
info(model, input_size=(64, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
bar = tqdm(range(2000))
for step in bar:
    idx = torch.randint(0, len(X), (64,))
    loss = F.mse_loss(model(X[idx]), Y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    bar.set_postfix(loss=f"{loss.item():.5f}")
