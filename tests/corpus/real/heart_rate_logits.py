# Modelled on: https://github.com/stalk/LearningNeiroNetwork/tree/1e9ad1a6425ee9462eaf9760f75262491f8f2f21/behaviorPrediction
# Source: a tabular binary classifier (TabularNN n-64-32-1 with ReLU), nn.BCEWithLogitsLoss, Adam at 1e-2,
#   TensorDataset + DataLoader of 32, train_loop/test_loop functions, accuracy computed as logits > 0.
# What differs: the heart-rate data from load_training_data(); the reading standardised inside the model
#   (the course's advice), so the model itself is sound.
# Mistake: none in training. The assignment reads probabilities (class 1 at >= 0.5); the model returns
#   logits, as BCEWithLogitsLoss wants, which the assignment cannot read.
# corpus: assignment=threshold-classifier expect=fail cause=output_convention
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from gradekit import load_training_data

x_train, y_train = load_training_data()


class TabularNN(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.register_buffer("mu", x_train.mean(0))
        self.register_buffer("sigma", x_train.std(0))
        self.net = nn.Sequential(
            nn.Linear(n_features, 64), nn.ReLU(),
            nn.Linear(64, 32), nn.ReLU(),
            nn.Linear(32, 1),
        )

    def forward(self, x):
        return self.net((x - self.mu) / self.sigma)


def train_loop(dataloader, model, loss_fn, optimizer):
    model.train()
    for X, y in dataloader:
        pred = model(X).squeeze()
        loss = loss_fn(pred, y.squeeze())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_loop(dataloader, model):
    model.eval()
    correct = 0
    with torch.no_grad():
        for X, y in dataloader:
            correct += ((model(X).squeeze() > 0).float() == y).sum().item()
    print(f"accuracy {correct / len(dataloader.dataset):.3f}")


loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True)
model = TabularNN(x_train.shape[1])
loss_fn = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(20):
    train_loop(loader, model, loss_fn, optimizer)
test_loop(loader, model)
