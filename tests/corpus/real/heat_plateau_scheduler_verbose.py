# Modelled on: https://github.com/opengeos/geoai/issues/182 ("ReduceLROnPlateau.__init__() got an unexpected
#   keyword argument 'verbose'", with torch 2.7; the reply: remove it from your code)
# Source: ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=5, verbose=True) in a training script
#   written for an older torch, stepped with the epoch's loss.
# What differs: the heat-transfer correlation, log inputs inside the model, Adam.
# Mistake the reply names: verbose was removed from the schedulers (deprecated in 2.2, gone in 2.7).
# corpus: assignment=heat-transfer expect=verdict:runtime_error cause=removed_api
import numpy as np
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

Re = 10 ** np.random.uniform(4, 6, 1000)
Pr = 10 ** np.random.uniform(np.log10(0.7), np.log10(160), 1000)
X = torch.tensor(np.column_stack([Re, Pr]), dtype=torch.float32)
Y = torch.tensor(np.log(0.023 * Re**0.8 * Pr**0.4), dtype=torch.float32).unsqueeze(1)


class LogModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, x):
        return torch.exp(self.fc(torch.log(x)))


model = LogModel()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
scheduler = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=5, verbose=True)
for epoch in range(500):
    opt.zero_grad()
    loss = nn.functional.mse_loss(torch.log(model(X)), Y)
    loss.backward()
    opt.step()
    scheduler.step(loss)
