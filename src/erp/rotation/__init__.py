"""Rotation procedures: the pure key-ring transitions applied to stores, with an audit entry."""
