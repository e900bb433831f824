"""The central service's OTLP receiver: gRPC and HTTP front ends over one export path."""
