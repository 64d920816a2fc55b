"""targetd-lio: iSCSI exports on the kernel LIO target."""
