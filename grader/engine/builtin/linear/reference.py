import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x_train, y_train = load_training_data()   # x_train: [N, 1], y_train: [N]
y_train = y_train.unsqueeze(1)            # [N, 1], same shape as the model's output

model = nn.Linear(1, 1)
criterion = nn.MSELoss()
# x goes up to 10, so the loss is steep in the weight: keep the learning rate small
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

for epoch in range(3000):
    y_pred = model(x_train)
    loss = criterion(y_pred, y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 500 == 0:
        print(f"epoch {epoch}: loss {loss.item():.6f}")

print("weight", model.weight.item(), "bias", model.bias.item())
submit(model)
