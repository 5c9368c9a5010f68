# Modelled on: https://github.com/deepinv/deepinv/issues/257 ("Member `train` of `GSPnP` seems to cause an
#   error when performing model.eval()": the module stores a boolean attribute named `train` in __init__, so
#   model.eval(), which calls self.train(False), raises "TypeError: 'bool' object is not callable")
# Source: an nn.Module whose constructor takes train=True and keeps it as self.train, read in forward().
# What differs: a one-input linear model for y = 2x + 1 whose flag switches a small noise on the input
#   during training; the script itself never calls model.eval().
# Mistake: none that matters to the student's own run; a grader that calls model.eval() crashes on it.
# corpus: assignment=linear expect=pass
import torch
import torch.nn as nn


class NoisyLinear(nn.Module):
    def __init__(self, train=True):
        super().__init__()
        self.train = train
        self.layer = nn.Linear(1, 1)

    def forward(self, x):
        if self.train and torch.is_grad_enabled():
            x = x + 0.0 * torch.randn_like(x)
        return self.layer(x)


x = torch.rand(400, 1) * 10
y = 2 * x + 1
model = NoisyLinear(train=True)
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
for step in range(1500):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
