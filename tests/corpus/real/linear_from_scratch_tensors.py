# Modelled on: https://github.com/greebear/pytorch-learning/issues/1 (week1-D3-D4.ipynb: linear regression
#   "by hand" with w = torch.randn(1, requires_grad=True) and b = torch.zeros(1, requires_grad=True),
#   torch.mul/torch.add for the prediction, loss.backward() and w.data.sub_(lr * w.grad), 10,000 iterations)
# Source: a course homework that never builds an nn.Module; the commenter: the grads must be zeroed
#   (w.grad.zero_(), b.grad.zero_()), which the maintainer then added.
# What differs: y = 2x + 1 on x in [0, 10] (the homework's is 3x + 5), the zeroing added as the fix did.
# Mistake for the grader: there is no model object to grade; the message says how to make one.
# corpus: assignment=linear expect=verdict:no_model message=grader_grades_a_torch.nn.Module
import torch

torch.manual_seed(10)
lr = 0.01
x = torch.rand(200, 1) * 10
y = 2 * x + (1 + 0.01 * torch.randn(200, 1))

w = torch.randn((1), requires_grad=True)
b = torch.zeros((1), requires_grad=True)
for iteration in range(3000):
    wx = torch.mul(w, x)
    y_pred = torch.add(wx, b)
    loss = (0.5 * (y - y_pred) ** 2).mean()
    loss.backward()
    b.data.sub_(lr * b.grad)
    w.data.sub_(lr * w.grad)
    w.grad.zero_()
    b.grad.zero_()
print(w.data, b.data)
