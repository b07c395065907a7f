namespace PcieVirt.Hypervisor.Paths;

/// <summary>The ways the same workload reaches the RAID controller.</summary>
public enum PathKind
{
    /// <summary>The host's own driver on the PF: no virtualization (the reference).</summary>
    BareMetal,
    /// <summary>Direct assignment of a VF: doorbells mapped into the guest, DMA through the IOMMU, posted interrupts.</summary>
    Vf,
    /// <summary>A virtio-blk-style ring in guest memory, one kick per batch, a host backend thread.</summary>
    Paravirtual,
    /// <summary>An emulated NVMe controller: every register access traps and is decoded and emulated.</summary>
    Emulated,
}

/// <summary>Names of the paths as the command line and JSON use them.</summary>
public static class PathNames
{
    /// <summary>The JSON key / CLI name of <paramref name="kind"/>.</summary>
    public static string Key(this PathKind kind) => kind switch
    {
        PathKind.BareMetal => "baremetal",
        PathKind.Vf => "vf",
        PathKind.Paravirtual => "paravirtual",
        _ => "emulated",
    };

    /// <summary>Parses a key of <see cref="Key"/>.</summary>
    public static bool TryParse(string s, out PathKind kind)
    {
        foreach (var k in Enum.GetValues<PathKind>())
            if (k.Key() == s) { kind = k; return true; }
        kind = default;
        return false;
    }
}
