"""targetd plugin: ZFS block pools (zvols) and ZFS file system pools."""
