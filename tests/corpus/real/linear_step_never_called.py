# Modelled on: https://github.com/tedlasai/learn2refocus/issues/5 (backward, scheduler.step and zero_grad
#   are called, optimizer.step() is not; the reporter: without it "the weight never gets updated")
# Source: a loop that computes the loss, calls backward(), steps the learning-rate scheduler and zeroes the
#   gradients, but never steps the optimizer.
# What differs: the linear assignment's y = 2x + 1; SGD with a StepLR scheduler; full batch.
# Mistake named: optimizer.step() is missing.
# corpus: assignment=linear expect=fail cause=no_optimizer_step
import torch
import torch.nn as nn

x = torch.linspace(0, 10, 200).reshape(-1, 1)
y = 2 * x + 1

model = nn.Linear(1, 1)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100, gamma=0.5)

for epoch in range(500):
    loss = criterion(model(x), y)
    loss.backward()
    scheduler.step()
    optimizer.zero_grad()
    if epoch % 100 == 0:
        print(epoch, loss.item())
