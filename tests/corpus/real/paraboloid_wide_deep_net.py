# Modelled on: https://github.com/wslerry/regresstorch/blob/5786efaa12311839eb9a34511d132df2608be4a1/train.py
# Source: a one-input regression "LinearNet" with six hidden Linear layers of 256 to 1024 units, F.relu and
#   Dropout(0.2) after each, Adam at lr 0.001, argparse flags for the epochs and batch size, the model saved
#   when the loss improves.
# What differs: the paraboloid's two inputs; the same wide hidden layers (about 2 million parameters).
# Mistake: the model is far over the assignment's parameter budget (100,000); the grader says so when the
#   model first trains instead of after training it.
# corpus: assignment=paraboloid expect=verdict:over_budget message=stopped_at_its_first_training_step
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--epoch", type=int, default=200)
parser.add_argument("--batch-size", type=int, default=8)
args = parser.parse_args()


class LinearNet(nn.Module):
    def __init__(self):
        super().__init__()
        sizes = [2, 256, 512, 1024, 1024, 512, 256]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(256, 1)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        for layer in self.hidden:
            x = self.drop(F.relu(layer(x)))
        return self.out(x)


x = np.random.random((1000, 2)).astype(np.float32)
y = (x**2).sum(1, keepdims=True)
X, Y = torch.from_numpy(x), torch.from_numpy(y)
model = LinearNet()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
best = float("inf")
for epoch in range(args.epoch):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), args.batch_size):
        idx = perm[i : i + args.batch_size]
        optimizer.zero_grad()
        loss = F.mse_loss(model(X[idx]), Y[idx])
        loss.backward()
        optimizer.step()
    if loss.item() < best:
        best = loss.item()
        torch.save(model.state_dict(), "regression_model.pt")
