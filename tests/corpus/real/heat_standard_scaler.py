# Modelled on: https://discuss.pytorch.org/t/96648 (reply #5 by ptrblck: a 1-50-1 ReLU network for x from
#   1 to 4000, input and target each standardised by mean/std, predictions un-normalised afterwards)
# Source: scale the inputs and the target, train on the scaled values with Adam lr 1e-3 for 1000 full-batch
#   epochs, map the predictions back; here with scikit-learn's StandardScaler, as tutorials do.
# What differs: the heat-transfer correlation (Re, Pr) made from the public formula; a 2-64-64-1 network.
# Mistake: none in the script's own terms. The grader feeds raw Re and Pr and reads the raw output, so the
#   scaling outside the model is missing at evaluation (issue 15's "preprocessing outside the model").
# corpus: assignment=heat-transfer expect=fail cause=scaling_outside_model
import numpy as np
import torch
from torch import nn
from sklearn.preprocessing import StandardScaler

rng = np.random.default_rng(0)
Re = 10 ** rng.uniform(4, 6, 2000)
Pr = 10 ** rng.uniform(np.log10(0.7), np.log10(160), 2000)
X = np.column_stack([Re, Pr])
y = (0.023 * Re**0.8 * Pr**0.4).reshape(-1, 1)

x_scaler = StandardScaler()
y_scaler = StandardScaler()
X_s = torch.tensor(x_scaler.fit_transform(X), dtype=torch.float32)
y_s = torch.tensor(y_scaler.fit_transform(y), dtype=torch.float32)

model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.MSELoss()
for epoch in range(1000):
    optimizer.zero_grad()
    loss = criterion(model(X_s), y_s)
    loss.backward()
    optimizer.step()
    if epoch % 200 == 0:
        print(epoch, loss.item())

with torch.no_grad():
    pred = y_scaler.inverse_transform(model(X_s).numpy())
print("mean relative error", np.mean(np.abs(pred - y) / y))
