using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>
/// How a root complex is wired into the host: its PCI segment, ECAM window, the bus numbers it
/// owns, and the host address ranges (apertures) it forwards to PCI.
/// </summary>
public sealed record RootComplexOptions
{
    public string Name { get; init; } = "pci0";

    /// <summary>PCI segment (domain) number.</summary>
    public ushort Segment { get; init; }

    /// <summary>
    /// ECAM base address: where bus 0's configuration space would be, as in the ACPI MCFG table, so
    /// bus b of this segment sits at EcamBase + (b &lt;&lt; 20). Must be 1 MiB aligned.
    /// </summary>
    public ulong EcamBase { get; init; } = 0xE000_0000;

    /// <summary>First bus number (the root bus).</summary>
    public byte StartBus { get; init; }

    /// <summary>Last bus number decoded by the ECAM window.</summary>
    public byte EndBus { get; init; } = 0xFF;

    /// <summary>Memory range below 4 GiB forwarded to PCI (non-prefetchable and 32-bit BARs).</summary>
    public AddressRange Mmio32 { get; init; } = new(0xC000_0000, 0x2000_0000);

    /// <summary>Memory range above 4 GiB forwarded to PCI (64-bit prefetchable BARs); empty = none.</summary>
    public AddressRange Mmio64 { get; init; } = new(0x80_0000_0000, 0x10_0000_0000);

    /// <summary>I/O port range forwarded to PCI; empty = none.</summary>
    public AddressRange Io { get; init; } = new(0x1000, 0xF000);

    /// <summary>Host RAM size when <see cref="RamRanges"/> is not given: DMA to [0, RamSize) reaches memory.</summary>
    public ulong RamSize { get; init; } = 0x8000_0000;

    /// <summary>Where host RAM sits (e.g. below the MMIO hole and from 4 GiB up); null = [0, RamSize).</summary>
    public IReadOnlyList<AddressRange>? RamRanges { get; init; }

    /// <summary>The RAM ranges in force.</summary>
    public IReadOnlyList<AddressRange> EffectiveRamRanges => RamRanges ?? [new AddressRange(0, RamSize)];

    /// <summary>Requester ID the root complex uses for requests it issues (its host bridge); default root bus 00.0.</summary>
    public Bdf? RequesterId { get; init; }

    /// <summary>The ECAM window this root complex decodes: buses StartBus..EndBus.</summary>
    public AddressRange EcamWindow =>
        new(EcamBase + ((ulong)StartBus << 20), (ulong)(EndBus - StartBus + 1) << 20);

    /// <summary>Checks the options; returns an error text or null.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) return "the root complex needs a name";
        if (StartBus > EndBus) return $"bus range {StartBus:x2}-{EndBus:x2} is empty";
        if ((EcamBase & 0xF_FFFF) != 0) return $"ECAM base 0x{EcamBase:x} is not 1 MiB aligned";
        var ecam = EcamWindow;
        if (ecam.Base + ecam.Size < ecam.Base) return "ECAM window wraps around the address space";
        if (!Mmio32.IsEmpty && Mmio32.Base + Mmio32.Size > 0x1_0000_0000UL) return $"32-bit MMIO aperture {Mmio32} extends above 4 GiB";
        if (!Mmio64.IsEmpty && Mmio64.Base < 0x1_0000_0000UL) return $"64-bit MMIO aperture {Mmio64} starts below 4 GiB";
        if (!Mmio64.IsEmpty && Mmio64.Base + Mmio64.Size < Mmio64.Base) return "64-bit MMIO aperture wraps around";
        if (!Io.IsEmpty && Io.Base + Io.Size > 0x1_0000_0000UL) return $"I/O aperture {Io} exceeds the 32-bit I/O space";
        var msi = AddressRange.FromLimit(InterruptController.MsiBase, InterruptController.MsiLimit);
        foreach (var (name, r) in new[] { ("32-bit MMIO", Mmio32), ("64-bit MMIO", Mmio64) })
        {
            if (r.Overlaps(ecam)) return $"{name} aperture {r} overlaps the ECAM window {ecam}";
            if (r.Overlaps(msi)) return $"{name} aperture {r} overlaps the MSI range {msi}";
            foreach (var ram in EffectiveRamRanges)
                if (r.Overlaps(ram)) return $"{name} aperture {r} overlaps RAM {ram}";
        }
        foreach (var ram in EffectiveRamRanges)
        {
            if (ecam.Overlaps(ram)) return $"ECAM window {ecam} overlaps RAM {ram}";
            if (ram.Overlaps(msi)) return $"RAM {ram} overlaps the MSI range {msi}";
        }
        if (ecam.Overlaps(msi)) return $"ECAM window {ecam} overlaps the MSI range {msi}";
        if (Mmio32.Overlaps(Mmio64)) return "the MMIO apertures overlap";
        return null;
    }
}
