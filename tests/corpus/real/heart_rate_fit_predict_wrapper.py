# Modelled on: https://github.com/wh33les/HousingPrices/blob/0e2e0ca11044f84e72ab6953bfcbb0ed14557df1/sample.py
# Source: an nn.Module with scikit-learn-like fit(X, y, epochs, lr) and predict(X) methods: fit() creates
#   its loss and Adam inside and trains full batch, printing "Epoch [e/N], Loss" every 100 epochs;
#   predict() runs under torch.no_grad() without calling eval().
# What differs: the heart-rate readings, standardised inside forward() from buffers; BCELoss on a sigmoid
#   output, as the assignment reads probabilities.
# Mistake: none.
# corpus: assignment=threshold-classifier expect=pass
import torch
import torch.nn as nn
from gradekit import load_training_data


class MyModel(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.fc1 = nn.Linear(1, 8)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(8, 1)

    def forward(self, x):
        x = (x - self.mean) / self.std
        return torch.sigmoid(self.fc2(self.relu(self.fc1(x))))

    def fit(self, X, y, epochs, lr=0.01):
        criterion = nn.BCELoss()
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        for epoch in range(epochs):
            optimizer.zero_grad()
            loss = criterion(self(X).squeeze(1), y)
            loss.backward()
            optimizer.step()
            if (epoch + 1) % 100 == 0:
                print(f"Epoch [{epoch + 1}/{epochs}], Loss: {loss.item():.4f}")

    def predict(self, X):
        with torch.no_grad():
            return (self(X) >= 0.5).float()


X, y = load_training_data()
model = MyModel(X.mean(0), X.std(0))
model.fit(X, y, epochs=1500, lr=0.05)
print("accuracy", (model.predict(X).squeeze(1) == y).float().mean().item())
