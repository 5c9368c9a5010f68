# Modelled on: https://discuss.pytorch.org/t/unable-to-learn-xor-representation-using-2-layers-of-mlp/13287
#   (the reply that converges: hidden size 20, ReLU, BCELoss on a sigmoid output)
# Source: a 2-20-1 XOR network with a ReLU hidden layer, nn.Sigmoid() at the end, nn.BCELoss(), trained
#   on the four corners; predictions read as probabilities (> 0.5).
# What differs: the assignment's four corners from load_training_data() (the same truth table); Adam, not SGD.
# Mistake: none in the network. The assignment reads logits (class 1 at >= 0): every probability is >= 0,
#   so read as logits every point is class 1 (the "correct model scored 0" of issue 15).
# corpus: assignment=xor expect=fail cause=output_convention
import torch
import torch.nn as nn
from gradekit import load_training_data

X, y = load_training_data()
y = y.view(-1, 1)

model = nn.Sequential(
    nn.Linear(2, 20),
    nn.ReLU(),
    nn.Linear(20, 1),
    nn.Sigmoid(),
)
loss_fn = nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

for epoch in range(1500):
    pred = model(X)
    loss = loss_fn(pred, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 300 == 0:
        print(epoch, loss.item())

accuracy = ((model(X) > 0.5).float() == y).float().mean()
print("training accuracy", accuracy.item())
