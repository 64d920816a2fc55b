"""targetd plugin: NFS exports."""
