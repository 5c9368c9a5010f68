# Modelled on: https://discuss.pytorch.org/t/simple-linear-sigmoid-network-not-learning/98714
# Source: an XNOR network 2-4-1 with a sigmoid after both layers, nn.MSELoss(), SGD at lr 0.01, trained one
#   sample at a time by a train() method on the model that creates a new optimizer on every call.
# What differs: XOR instead of XNOR (the four corners from load_training_data), a fixed number of passes.
# Mistake named by the reply (K. Frank): drop the final sigmoid and train with BCEWithLogitsLoss (and a
#   wider/deeper net); the optimizer made anew on every call and the sigmoid+MSE pairing are the rest.
# corpus: assignment=xor expect=fail cause=output_convention|optimizer_recreated|mse_for_classification
import torch
import torch.nn as nn
from gradekit import load_training_data


class Network(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 4)
        self.output = nn.Linear(4, 1)
        self.sigmoid = nn.Sigmoid()
        self.criterion = nn.MSELoss()

    def forward(self, x):
        x = self.sigmoid(self.hidden(x))
        x = self.sigmoid(self.output(x))
        return x

    def train(self, inp, target):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.01)
        optimizer.zero_grad()
        out = self(inp)
        loss = self.criterion(out, target)
        loss.backward()
        optimizer.step()
        return loss.item()


net = Network()
data, labels = load_training_data()
for epoch in range(3):
    total = 0.0
    for i in range(len(data)):
        total += net.train(data[i : i + 1], labels[i : i + 1].view(1, 1))
    print("epoch", epoch, "loss", total / len(data))
