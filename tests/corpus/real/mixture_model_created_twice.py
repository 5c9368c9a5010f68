# Modelled on: https://github.com/spro/practical-pytorch/issues/9 (char-rnn-classification: the optimizer is
#   made from rnn.parameters() near the top, then the notebook runs rnn = RNN(...) again before the loop)
# Source: a notebook-style classifier with NLLLoss over LogSoftmax outputs, SGD at lr 0.005, random
#   single examples, a print every few thousand iterations; the loss "stays large and oscillates".
# What differs: the five 2-D clusters (load_training_data) instead of names; a 2-64-5 network; the same
#   order of cells: model, optimizer, some helper cells, the model made again, the loop.
# Mistake named by the maintainer: the model is instantiated twice; move the optimizer below the second.
# corpus: assignment=gaussian-mixture expect=fail cause=optimizer_not_on_model
import random

import torch
import torch.nn as nn
from gradekit import load_training_data

points, categories = load_training_data()
n_hidden = 64


class Classifier(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.i2h = nn.Linear(n_in, n_hidden)
        self.h2o = nn.Linear(n_hidden, n_out)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, x):
        return self.softmax(self.h2o(torch.relu(self.i2h(x))))


net = Classifier(2, n_hidden, 5)
learning_rate = 0.005
optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate)
criterion = nn.NLLLoss()


def random_training_pair():
    i = random.randrange(len(points))
    return points[i : i + 1], categories[i : i + 1]


net = Classifier(2, n_hidden, 5)

current_loss = 0.0
for iteration in range(1, 3001):
    x, category = random_training_pair()
    optimizer.zero_grad()
    loss = criterion(net(x), category)
    loss.backward()
    optimizer.step()
    current_loss += loss.item()
    if iteration % 1000 == 0:
        print(iteration, current_loss / 1000)
        current_loss = 0.0
