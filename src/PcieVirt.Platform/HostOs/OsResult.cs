namespace PcieVirt.Platform.HostOs;

/// <summary>The Linux error numbers the PCI core's SR-IOV paths return (as <c>echo N &gt; sriov_numvfs</c> reports them).</summary>
public enum LinuxErrno
{
    /// <summary>Success.</summary>
    None = 0,
    /// <summary>EIO: the device reported inconsistent SR-IOV values, or a VF did not come up.</summary>
    EIO = 5,
    /// <summary>ENOMEM: not enough bus numbers or MMIO resources for the VFs.</summary>
    ENOMEM = 12,
    /// <summary>EBUSY: VFs are already enabled.</summary>
    EBUSY = 16,
    /// <summary>ENODEV: no such SR-IOV PF.</summary>
    ENODEV = 19,
    /// <summary>EINVAL: an invalid request (e.g. more VFs than InitialVFs without migration).</summary>
    EINVAL = 22,
    /// <summary>ERANGE: more VFs than TotalVFs.</summary>
    ERANGE = 34,
}

/// <summary>
/// Outcome of a host OS operation: success, or a Linux error number with the kernel's explanation. The
/// host OS model never lets an exception escape; every failure is one of these.
/// </summary>
public readonly record struct OsResult(LinuxErrno Error, string Message)
{
    /// <summary>True when <see cref="Error"/> is <see cref="LinuxErrno.None"/>.</summary>
    public bool Success => Error == LinuxErrno.None;

    /// <summary>A success with a note of what was done.</summary>
    public static OsResult Ok(string message) => new(LinuxErrno.None, message);

    /// <summary>What <c>strerror</c> says for <see cref="Error"/> (what a shell prints after "write error:").</summary>
    public string ErrorText => Error switch
    {
        LinuxErrno.None => "Success",
        LinuxErrno.EIO => "Input/output error",
        LinuxErrno.ENOMEM => "Cannot allocate memory",
        LinuxErrno.EBUSY => "Device or resource busy",
        LinuxErrno.ENODEV => "No such device",
        LinuxErrno.EINVAL => "Invalid argument",
        LinuxErrno.ERANGE => "Numerical result out of range",
        _ => Error.ToString(),
    };

    public override string ToString() => Success ? Message : $"{Message}: {ErrorText} ({Error})";
}
