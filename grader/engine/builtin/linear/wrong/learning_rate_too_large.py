import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x_train, y_train = load_training_data()
y_train = y_train.unsqueeze(1)

model = nn.Linear(1, 1)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for epoch in range(1000):
    y_pred = model(x_train)
    loss = criterion(y_pred, y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 100 == 0:
        print(f"epoch {epoch}: loss {loss.item():.6f}")

print("weight", model.weight.item(), "bias", model.bias.item())
submit(model)
