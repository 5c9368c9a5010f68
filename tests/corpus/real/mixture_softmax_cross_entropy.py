# Modelled on: https://github.com/MicrosoftDocs/ml-basics "05a - Deep Neural Networks (PyTorch).ipynb"
#   (and its issue #48: CrossEntropyLoss expects logits, not probabilities)
# Source: the penguins classifier: TensorDataset + DataLoader(batch_size=20), PenguinNet 4-10-10-3 with
#   ReLU and a final torch.softmax, CrossEntropyLoss, Adam lr 0.001, separate train()/test() functions that
#   print the loss and accuracy each epoch.
# What differs: the assignment's five 2-D clusters (load_training_data), so 2 inputs and 5 classes; 2 epochs.
# Mistake the maintainer accepted (issue #48): the softmax before CrossEntropyLoss; return the logits.
# corpus: assignment=gaussian-mixture expect=fail cause=softmax_then_cross_entropy
import torch
import torch.nn as nn
import torch.utils.data as td
from gradekit import load_training_data

features, labels = load_training_data()
train_ds = td.TensorDataset(features, labels)
train_loader = td.DataLoader(train_ds, batch_size=20, shuffle=True)

hl = 10


class PenguinNet(nn.Module):
    def __init__(self):
        super(PenguinNet, self).__init__()
        self.fc1 = nn.Linear(2, hl)
        self.fc2 = nn.Linear(hl, hl)
        self.fc3 = nn.Linear(hl, 5)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        x = torch.softmax(self.fc3(x), dim=1)
        return x


def train(model, data_loader, optimizer):
    model.train()
    train_loss = 0
    for batch, tensor in enumerate(data_loader):
        data, target = tensor
        optimizer.zero_grad()
        out = model(data)
        loss = loss_criteria(out, target)
        train_loss += loss.item()
        loss.backward()
        optimizer.step()
    avg_loss = train_loss / (batch + 1)
    print("Training set: Average loss: {:.6f}".format(avg_loss))
    return avg_loss


model = PenguinNet()
loss_criteria = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
for epoch in range(1, 3):
    print("Epoch: {}".format(epoch))
    train(model, train_loader, optimizer)
