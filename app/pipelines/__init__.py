"""One pipeline per model: the object that owns a request's path from its body to its answer.

`price.PricePipeline`: JSON body -> features -> price. `digit.DigitPipeline`: uploads -> MNIST form
-> network -> answer, with `runners` saying where the work runs (chosen once, in the lifespan).
"""
