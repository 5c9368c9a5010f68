import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x_train, y_train = load_training_data()   # columns: Re, eps_D; target: f
y_train = y_train.unsqueeze(1)

model = nn.Sequential(
    nn.Linear(2, 32), nn.ReLU(),
    nn.Linear(32, 32), nn.ReLU(),
    nn.Linear(32, 1),
)

optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.MSELoss()

for epoch in range(1500):
    optimizer.zero_grad()
    loss = criterion(model(x_train), y_train)
    loss.backward()
    optimizer.step()
    if epoch % 200 == 0:
        print(f"epoch {epoch}: loss {loss.item():.3e}")

submit(model)
