# Modelled on: https://stackoverflow.com/questions/ ("PyTorch Binary Classification - same network
#   structure, 'simpler' data, but worse performance?"), through its copies on newbe.dev and w3toppers.com
# Source: Model(input_size, H1, output_size) with torch.sigmoid after both Linear layers, a predict()
#   method answering 1 at >= 0.5, trained on one patient's heart rate labelled 1 above 91 bpm; the loss
#   stalls. The accepted answer: standardise x with (x - mean) / std (and use Adam at lr 0.01).
# What differs: the fix applied as the answer shows it, to the data before training, outside the model.
# Mistake: the standardisation happens outside the model; the grader feeds raw readings (~92 bpm).
# corpus: assignment=threshold-classifier expect=fail cause=scaling_outside_model
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
        return 1 if self.forward(x) >= 0.5 else 0


x, y = load_training_data()
x = (x - x.mean()) / x.std()
y = y.view(-1, 1)

torch.manual_seed(2)
model = Model(1, 4, 1)
criterion = nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
epochs = 1000
losses = []
for i in range(epochs):
    y_pred = model.forward(x)
    loss = criterion(y_pred, y)
    losses.append(loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print("final loss", losses[-1])
