# Modelled on: https://forums.fast.ai/t/help-with-simple-celcius-to-f-linear-regression-using-pytorch-gradient-descent-autograd/18783
# Source: a Celsius-to-Fahrenheit linear regression by hand with autograd: inputs spanning hundreds, a
#   learning rate that crawls when small and "blows up" when larger; the reply: scale x and use lr 1e-3.
# What differs: y = 2x + 1 on x in [0, 10] with nn.Linear and SGD at lr 0.05, the rate that blows up here.
# Mistake the reply names: the learning rate is too large for the data's scale (normalise x, smaller lr).
# corpus: assignment=linear expect=fail cause=learning_rate_too_large
import torch

celsius = torch.rand(300, 1) * 10
fahrenheit = 2 * celsius + 1

model = torch.nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = torch.nn.MSELoss()
for epoch in range(200):
    optimizer.zero_grad()
    loss = loss_fn(model(celsius), fahrenheit)
    loss.backward()
    optimizer.step()
    if epoch % 20 == 0:
        print(f"epoch {epoch}: loss {loss.item()}")
