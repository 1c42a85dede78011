"""The operator: kopf handlers (handlers.py) around one level-triggered reconcile
(reconcile.py) built from pure pieces (render.py, status.py) and a thin API facade (kube.py).
Importing this package does not register handlers; `neuron_operator.controller.handlers` does.
"""
