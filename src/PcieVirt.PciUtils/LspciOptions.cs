namespace PcieVirt.PciUtils;

/// <summary>lspci display options (the subset of pciutils 3.9.0 flags this tool implements).</summary>
public sealed record LspciOptions
{
    /// <summary><c>-t</c>: show the bus tree.</summary>
    public bool Tree { get; init; }
    /// <summary><c>-v</c>, <c>-vv</c>, <c>-vvv</c>: 0–3.</summary>
    public int Verbosity { get; init; }
    /// <summary>Hex dump: 0 none, 1 <c>-x</c> (64 bytes), 2 <c>-xxx</c> (256), 3 <c>-xxxx</c> (4096).</summary>
    public int Hex { get; init; }
    /// <summary><c>-s [[[domain]:]bus]:][dev][.fn]</c>, or null.</summary>
    public string? Selector { get; init; }
    /// <summary><c>-d [vendor]:[device][:class[:prog-if]]</c>, or null.</summary>
    public string? IdSelector { get; init; }
    /// <summary>0 names, 1 <c>-n</c> numbers, 2 <c>-nn</c> both.</summary>
    public int Numeric { get; init; }
    /// <summary><c>-D</c>: always show the domain (segment) number.</summary>
    public bool Domains { get; init; }
    /// <summary><c>-k</c>: show the kernel driver bound to each function.</summary>
    public bool Kernel { get; init; }
    /// <summary><c>-i FILE</c>: pci.ids to use instead of the default locations.</summary>
    public string? IdFile { get; init; }
}
