using Microsoft.Extensions.Logging;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric.MultiRoot;

/// <summary>
/// The Base Function of an MRA device: a Type 0 function present only in the management VH (VH0),
/// holding the <see cref="MrIovCapability"/> that maps the device's PFs to VHs.
/// </summary>
public sealed class BaseFunction : EndpointFunction
{
    /// <summary>Creates and seals a BF for a device with <paramref name="pfCount"/> PFs.</summary>
    public BaseFunction(string name, FunctionIdentity identity, int pfCount, ILogger? logger = null) : base(name, identity, logger)
    {
        // Every PCI Express function has the PCI Express capability (§7.5.3); the extended list follows.
        AddCapability(new PciExpressCapability(new PciExpressOptions { PortType = PciePortType.Endpoint }));
        MrIov = new MrIovCapability(pfCount);
        AddCapability(MrIov);
        Seal();
    }

    /// <summary>The PF-to-VH mapping table.</summary>
    public MrIovCapability MrIov { get; }
}

/// <summary>
/// A multi-root aware device: one <see cref="BaseFunction"/> and several PFs. Each PF is assigned to at
/// most one VH at a time and appears there as an ordinary function (with its own SR-IOV VFs, if any);
/// what the PFs share inside the device (a RAID engine, an NVM subsystem) is the device model's business.
/// </summary>
public sealed class MraDevice
{
    /// <summary>Groups a sealed BF and sealed PFs (none attached to a fabric yet).</summary>
    public MraDevice(string name, BaseFunction baseFunction, IReadOnlyList<PciFunction> physicalFunctions)
    {
        if (physicalFunctions.Count != baseFunction.MrIov.PfCount)
            throw new ArgumentException($"{name}: the BF maps {baseFunction.MrIov.PfCount} PFs but {physicalFunctions.Count} were given");
        foreach (var pf in physicalFunctions)
            if (pf.IsBridge || pf.IsVirtualFunction || !pf.IsSealed)
                throw new ArgumentException($"{name}: {pf.Name} must be a sealed Type 0 physical function");
        Name = name;
        BaseFunction = baseFunction;
        PhysicalFunctions = physicalFunctions;
    }

    /// <summary>Device name.</summary>
    public string Name { get; }
    /// <summary>The BF (reachable from VH0 only).</summary>
    public BaseFunction BaseFunction { get; }
    /// <summary>The PFs, by PF index.</summary>
    public IReadOnlyList<PciFunction> PhysicalFunctions { get; }

    /// <summary>Index of <paramref name="pf"/>, or -1.</summary>
    public int IndexOf(PciFunction pf)
    {
        for (int i = 0; i < PhysicalFunctions.Count; i++) if (PhysicalFunctions[i] == pf) return i;
        return -1;
    }

    public override string ToString() => Name;
}
