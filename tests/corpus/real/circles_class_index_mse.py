# Modelled on: https://ai.stackexchange.com/questions/13944 ("One vs multiple output neurons")
# Source: a beginner's question on predicting one of several classes with a single output neuron trained
#   as a regression of the class number, instead of one output per class.
# What differs: the three rings of the assignment (load_training_data); a 2-32-32-1 ReLU network trained
#   with MSELoss on the ring number as a float, full batch, Adam.
# Mistake the accepted answer names: for discrete classes use one output neuron per class (and a
#   classification loss); a single regression output treats classes as ordered numbers.
# corpus: assignment=concentric-circles expect=fail cause=output_convention
import torch
import torch.nn as nn
from gradekit import load_training_data

points, rings = load_training_data()
rings = rings.float().unsqueeze(1)

net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(net.parameters(), lr=0.01)
mse = nn.MSELoss()

for epoch in range(800):
    opt.zero_grad()
    loss = mse(net(points), rings)
    loss.backward()
    opt.step()

predicted = net(points).round().clamp(0, 2)
print("accuracy:", (predicted == rings).float().mean().item())
