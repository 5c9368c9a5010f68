import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x_train, y_train = load_training_data()   # heart rates in bpm, labels 0/1

# Logistic regression: one neuron with a sigmoid.
model = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid())
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
criterion = nn.BCELoss()

for epoch in range(2000):
    optimizer.zero_grad()
    y_pred = model(x_train).squeeze()
    loss = criterion(y_pred, y_train)
    loss.backward()
    optimizer.step()
    if epoch % 200 == 0:
        print(epoch, loss.item())

submit(model)
