import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x_train, y_train = load_training_data()   # x_train: [N, 1] heart rates in bpm, y_train: [N] 0/1

# Heart rates sit around 92 bpm: standardise them inside the model, so the
# grader can feed raw readings and the optimiser sees inputs of order 1.
class ThresholdClassifier(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        x = (x - self.mean) / self.std
        return torch.sigmoid(self.linear(x)).squeeze(-1)   # probability of label 1


model = ThresholdClassifier(x_train.mean(0), x_train.std(0))
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
criterion = nn.BCELoss()

for epoch in range(1000):
    optimizer.zero_grad()
    loss = criterion(model(x_train), y_train)
    loss.backward()
    optimizer.step()

with torch.no_grad():
    accuracy = ((model(x_train) >= 0.5).float() == y_train).float().mean()
print(f"loss {loss.item():.4f}, training accuracy {accuracy.item():.3f}")

submit(model)
