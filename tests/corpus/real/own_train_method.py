# Modelled on: https://github.com/Zhenye-Na/DA-RNN/issues/21 (src/model.py) and
#   https://github.com/wh33les/HousingPrices/blob/0e2e0ca11044f84e72ab6953bfcbb0ed14557df1/sample.py
# Source: a model class that carries its own sklearn-like `train()`/`fit()` and `predict()` methods,
#   trains itself in a method with its own optimizer and loss, prints every 100 epochs.
# What differs: the paraboloid's data, made as in class; two ReLU layers; the method is named train(),
#   as in DA-RNN, so it shadows nn.Module.train(mode).
# Mistake the source's reply names: none in the model; "defining a train method will break the model.eval()
#   call" (DA-RNN #21): a grader that calls model.eval()/model.train(False) crashes on it.
# corpus: assignment=paraboloid expect=pass
import numpy as np
import torch
import torch.nn as nn


class MyModel(nn.Module):
    def __init__(self, n_in=2, hidden=32):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x):
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)

    def train(self, X, y, epochs=1500, lr=0.01):
        criterion = nn.MSELoss()
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        for epoch in range(epochs):
            optimizer.zero_grad()
            outputs = self.forward(X)
            loss = criterion(outputs, y)
            loss.backward()
            optimizer.step()
            if (epoch + 1) % 100 == 0:
                print(f"Epoch [{epoch + 1}/{epochs}], Loss: {loss.item():.4f}")

    def predict(self, X):
        with torch.no_grad():
            return self.forward(X)


x = np.random.random(1000)
y = np.random.random(1000)
X = torch.tensor(np.stack([x, y], axis=1), dtype=torch.float32)
Y = torch.tensor(x**2 + y**2, dtype=torch.float32).reshape(-1, 1)

model = MyModel()
model.train(X, Y)
print(model.predict(X[:5]))
