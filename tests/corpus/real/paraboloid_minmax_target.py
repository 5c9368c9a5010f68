# Modelled on: https://blog.51cto.com/ (the 51CTO post on normalising data with MinMaxScaler and restoring
#   the predictions, read through its lepang.cn copy)
# Source: MinMaxScaler applied to the target before training a small regression network; predictions
#   are to be mapped back with inverse_transform, which the grader never does.
# What differs: the paraboloid's data (x, y in [0, 1] already, so only z is scaled); a 2-32-32-1 ReLU network
#   with Adam and mini-batches.
# Mistake: the model learns the scaled target; its outputs are on another scale than z.
# corpus: assignment=paraboloid expect=fail cause=output_scale
import numpy as np
import torch
import torch.nn as nn
from sklearn.preprocessing import MinMaxScaler

x = np.random.random(1000)
y = np.random.random(1000)
z = (x**2 + y**2).reshape(-1, 1)
scaler = MinMaxScaler()
z_scaled = scaler.fit_transform(z)

inputs = torch.tensor(np.column_stack([x, y]), dtype=torch.float32)
targets = torch.tensor(z_scaled, dtype=torch.float32)

model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.MSELoss()
for step in range(2000):
    idx = torch.randint(0, 1000, (64,))
    optimizer.zero_grad()
    loss = loss_fn(model(inputs[idx]), targets[idx])
    loss.backward()
    optimizer.step()

prediction = scaler.inverse_transform(model(inputs).detach().numpy())
print("MSE in original units:", np.mean((prediction - z) ** 2))
