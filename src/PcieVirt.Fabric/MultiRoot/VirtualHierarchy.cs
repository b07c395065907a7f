namespace PcieVirt.Fabric.MultiRoot;

/// <summary>
/// One virtual hierarchy of an MRA switch: the host (root complex) on one upstream port and the virtual
/// switch it enumerates there — an ordinary <see cref="PcieSwitch"/> in that host's hierarchy whose
/// downstream ports are the VH's virtual downstream ports (hot-plug slots the manager fills).
/// </summary>
public sealed class VirtualHierarchy
{
    internal VirtualHierarchy(int id, RootPort hostPort, PcieSwitch virtualSwitch, MrLink hostLink)
    {
        Id = id;
        HostPort = hostPort;
        VirtualSwitch = virtualSwitch;
        HostLink = hostLink;
    }

    /// <summary>The switch's VH number; 0 is the management VH.</summary>
    public int Id { get; }
    /// <summary>True for VH0, where MR-PCIM reaches the Base Functions.</summary>
    public bool IsManagement => Id == 0;
    /// <summary>The host's root complex.</summary>
    public RootComplex RootComplex => HostPort.RootComplex;
    /// <summary>The host's root port the MRA switch upstream port is linked to.</summary>
    public RootPort HostPort { get; }
    /// <summary>The virtual switch the host enumerates.</summary>
    public PcieSwitch VirtualSwitch { get; }
    /// <summary>The host link (untagged).</summary>
    public MrLink HostLink { get; }
    /// <summary>The virtual downstream ports, by index.</summary>
    public IReadOnlyList<DownstreamPort> VirtualDownstreamPorts => VirtualSwitch.DownstreamPorts;

    /// <summary>Index of the first empty virtual downstream port, or -1.</summary>
    public int FirstFreePort()
    {
        for (int i = 0; i < VirtualDownstreamPorts.Count; i++) if (!VirtualDownstreamPorts[i].IsOccupied) return i;
        return -1;
    }

    public override string ToString() => IsManagement ? $"VH0 (management, {RootComplex.Name})" : $"VH{Id} ({RootComplex.Name})";
}
