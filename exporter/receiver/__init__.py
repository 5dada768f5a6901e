"""OTLP receiver: ``otelytics serve`` writes OTLP/HTTP and OTLP/gRPC exports into the dataset."""
