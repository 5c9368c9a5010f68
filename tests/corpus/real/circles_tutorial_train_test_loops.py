# Modelled on: https://github.com/pytorch/tutorials/blob/009a87b0ec0b432889e865e55d3ae9e3912c306e/beginner_source/basics/optimization_tutorial.py
# Source: the official tutorial's shape: hyperparameters as globals (learning_rate, batch_size, epochs), a
#   NeuralNetwork class with nn.Flatten and a ReLU stack returning logits, train_loop() with model.train()
#   printing every 100 batches from the global batch_size, test_loop() with model.eval() and no_grad printing
#   "Accuracy" and "Avg loss", CrossEntropyLoss, and a final print("Done!").
# What differs: the three rings from load_training_data() in a TensorDataset, SGD replaced by Adam, 30 epochs.
# Mistake: none.
# corpus: assignment=concentric-circles expect=pass
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from gradekit import load_training_data

learning_rate = 1e-2
batch_size = 64
epochs = 30

x, y = load_training_data()
train_dataloader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
test_dataloader = DataLoader(TensorDataset(x, y), batch_size=batch_size)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def train_loop(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 100 == 0:
            loss, current = loss.item(), batch * batch_size + len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test_loop(dataloader, model, loss_fn):
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


model = NeuralNetwork()
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
for t in range(epochs):
    print(f"Epoch {t + 1}\n-------------------------------")
    train_loop(train_dataloader, model, loss_fn, optimizer)
    test_loop(test_dataloader, model, loss_fn)
print("Done!")
