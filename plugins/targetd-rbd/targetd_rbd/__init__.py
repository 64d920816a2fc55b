"""targetd plugin: block pools on Ceph RBD pools (see README.md)."""
