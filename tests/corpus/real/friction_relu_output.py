# Modelled on: https://discuss.pytorch.org/t/enforcing-positive-output-values/106851
# Source: a regression of a positive quantity with hidden layers of 100, 75, 50 and 25 units and
#   F.relu(self.output_layer(x)) at the end, "to keep the output positive"; with some initialisations the
#   output "gets stuck at 0, due to zero gradients".
# What differs: the pipe-friction factor (positive, about 0.008 to 0.07) from its two inputs, log-scaled
#   inside forward(); the same four hidden layers; the class holds its own train() method, as the source's
#   approx class does; Adam.
# Mistake the poster names: a ReLU on the output is stuck at 0 once its input turns negative.
# corpus: assignment=pipe-friction expect=fail cause=dead_output
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gradekit import load_training_data


class approx(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = nn.Linear(2, 100)
        self.h2 = nn.Linear(100, 75)
        self.h3 = nn.Linear(75, 50)
        self.h4 = nn.Linear(50, 25)
        self.output_layer = nn.Linear(25, 1)
        with torch.no_grad():
            self.output_layer.bias.fill_(-1.0)

    def forward(self, x):
        x = torch.log10(x)
        x = F.relu(self.h1(x))
        x = F.relu(self.h2(x))
        x = F.relu(self.h3(x))
        x = F.relu(self.h4(x))
        return F.relu(self.output_layer(x))

    def train(self, x, y, epochs):
        opt = torch.optim.Adam(self.parameters(), lr=1e-3)
        for _ in range(epochs):
            opt.zero_grad()
            loss = F.mse_loss(self(x).squeeze(1), y)
            loss.backward()
            opt.step()


x_train, y_train = load_training_data()
f = approx()
f.train(x_train, y_train, 300)
