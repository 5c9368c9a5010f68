# Modelled on: https://stackoverflow.com/questions/ ("PyTorch Binary Classification - same network
#   structure, 'simpler' data, but worse performance?"), through its copies on newbe.dev and w3toppers.com
# Source: class Model(input_size, H1, output_size) with torch.sigmoid after both Linear layers and a
#   predict() method (1 at >= 0.5), BCELoss, SGD; the heart rate of one patient labelled 1 above 91 bpm,
#   fed raw (about 92); after 10,000 epochs the loss stalls near 0.43.
# What differs: the assignment's readings from load_training_data(); 1,000 epochs.
# Mistake the accepted answer names: the input is not normalised (standardise it, or BatchNorm1d).
# corpus: assignment=threshold-classifier expect=fail cause=unnormalised_inputs
import torch
import torch.nn as nn
from gradekit import load_training_data


class Model(nn.Module):
    def __init__(self, input_size, H1, output_size):
        super().__init__()
        self.linear = nn.Linear(input_size, H1)
        self.linear2 = nn.Linear(H1, output_size)

    def forward(self, x):
        x = torch.sigmoid(self.linear(x))
        x = torch.sigmoid(self.linear2(x))
        return x

    def predict(self, x):
        pred = self.forward(x)
        return 1 if pred >= 0.5 else 0


x, y = load_training_data()
y = y.view(-1, 1)
torch.manual_seed(2)
model = Model(1, 2, 1)
criterion = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for i in range(1000):
    y_pred = model.forward(x)
    loss = criterion(y_pred, y)
    if i % 100 == 0:
        print("epoch:", i, "loss:", loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
