using PcieVirt.Fabric;

namespace PcieVirt.Platform.Model;

/// <summary>
/// The enhanced configuration access window of a host (PCIe Base Spec §7.2.2): 1 MiB of config space
/// per bus, for buses <see cref="BusStart"/>..<see cref="BusEnd"/>.
/// </summary>
public sealed record EcamModel
{
    /// <summary>Address of the first config byte of bus <see cref="BusStart"/>.</summary>
    public required ulong Base { get; init; }
    public required byte BusStart { get; init; }
    public required byte BusEnd { get; init; }

    public int BusCount => BusEnd - BusStart + 1;
    /// <summary>Window size: 1 MiB per bus.</summary>
    public ulong Size => (ulong)BusCount << 20;
    public AddressRange Range => new(Base, Size);
}

/// <summary>
/// The address ranges a host bridge forwards to its PCI hierarchy for BARs. An absent aperture is
/// null; a present one never has size 0 in a valid model.
/// </summary>
public sealed record HostApertures
{
    /// <summary>Memory below 4 GiB (non-prefetchable bridge windows and 32-bit BARs).</summary>
    public required AddressRange Mmio32 { get; init; }
    /// <summary>Memory for 64-bit prefetchable BARs; null when the host has none.</summary>
    public AddressRange? Mmio64 { get; init; }
    /// <summary>I/O port space; null when the host routes no I/O to PCI.</summary>
    public AddressRange? Io { get; init; }
}

/// <summary>
/// One host: a root complex with its PCI segment, ECAM window, apertures, RAM, root ports and
/// root-complex integrated endpoints.
/// </summary>
public sealed record HostModel
{
    public required string Name { get; init; }
    /// <summary>PCI segment (domain) number, unique per platform.</summary>
    public required ushort Segment { get; init; }
    public required EcamModel Ecam { get; init; }
    public required HostApertures Apertures { get; init; }
    /// <summary>Host RAM in bytes (see <see cref="RamRanges"/> for where it sits).</summary>
    public required ulong RamSize { get; init; }
    public required IReadOnlyList<RootPortModel> RootPorts { get; init; }
    /// <summary>Endpoints on the root bus with no port above them (RCiEPs).</summary>
    public required IReadOnlyList<EndpointModel> IntegratedEndpoints { get; init; }
    /// <summary>JSON path of this host in the model, for messages.</summary>
    public string Path { get; init; } = "";

    /// <summary>Root bus number (the first bus of the ECAM range).</summary>
    public byte RootBus => Ecam.BusStart;

    /// <summary>
    /// Where RAM sits: from address 0 up to the lowest MMIO or ECAM window below 4 GiB, and the rest
    /// from 4 GiB upward (the usual PC layout, which leaves a hole for devices below 4 GiB).
    /// </summary>
    public IReadOnlyList<AddressRange> RamRanges
    {
        get
        {
            ulong lowTop = LowRamLimit(Ecam, Apertures);
            ulong low = Math.Min(RamSize, lowTop);
            var list = new List<AddressRange>(2);
            if (low > 0) list.Add(new AddressRange(0, low));
            if (RamSize > low) list.Add(new AddressRange(FourGiB, RamSize - low));
            return list;
        }
    }

    internal const ulong FourGiB = 1UL << 32;

    internal static ulong LowRamLimit(EcamModel ecam, HostApertures apertures)
    {
        ulong top = FourGiB;
        if (ecam.Base < top) top = ecam.Base;
        if (apertures.Mmio32.Base < top) top = apertures.Mmio32.Base;
        if (apertures.Mmio64 is { } m && m.Base < top) top = m.Base;
        return top;
    }

    /// <summary>Every port of this host, depth first (root ports, then the switch ports below each).</summary>
    public IEnumerable<PortModel> AllPorts()
    {
        foreach (var rp in RootPorts)
            foreach (var p in rp.SelfAndPortsBelow()) yield return p;
    }

    /// <summary>Every switch of this host, depth first.</summary>
    public IEnumerable<SwitchModel> AllSwitches()
    {
        foreach (var p in AllPorts())
            if (p.Downstream is SwitchModel s) yield return s;
    }

    /// <summary>Every endpoint of this host: integrated ones first, then those below ports, depth first.</summary>
    public IEnumerable<EndpointModel> AllEndpoints()
    {
        foreach (var e in IntegratedEndpoints) yield return e;
        foreach (var p in AllPorts())
            if (p.Downstream is EndpointModel e) yield return e;
    }

    /// <summary>Every endpoint function (physical functions only; VFs are described by their PF).</summary>
    public IEnumerable<FunctionModel> AllFunctions() => AllEndpoints().SelectMany(e => e.Functions);
}
