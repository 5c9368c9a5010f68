# Modelled on: https://github.com/zju3dv/Vox-Fusion/issues/31 and https://github.com/Wangyixinxin/ACN/issues/9
#   (an Adam optimizer created inside the training loop; the maintainer: Adam is stateful, and a new one
#   each loop throws away its momentum, which makes the parameters oscillate)
# Source: the optimizer constructed at the top of each iteration, right before zero_grad and backward.
# What differs: the paraboloid in a student's plain script: a 2-32-32-1 ReLU network, mini-batches of 64.
# Mistake named: a new Adam every iteration resets its moment estimates.
# corpus: assignment=paraboloid expect=fail cause=optimizer_recreated
import numpy as np
import torch
import torch.nn as nn

x = np.random.random(1000)
y = np.random.random(1000)
inputs = torch.Tensor(np.transpose([x, y]))
targets = torch.Tensor(x**2 + y**2).unsqueeze(1)

model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
criterion = nn.MSELoss()
for step in range(1500):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    ix = torch.randint(0, 1000, (64,))
    optimizer.zero_grad()
    loss = criterion(model(inputs[ix]), targets[ix])
    loss.backward()
    optimizer.step()
