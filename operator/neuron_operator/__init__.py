"""neuron-operator: places ML models on AWS Inferentia and Trainium nodes."""

__version__ = "0.1.0"
