namespace PcieVirt.Pci.Functions;

/// <summary>The identification registers of a function's header.</summary>
public sealed record FunctionIdentity
{
    public ushort VendorId { get; init; }
    public ushort DeviceId { get; init; }
    /// <summary>24-bit class code: base class (23:16), sub-class (15:8), programming interface (7:0).</summary>
    public uint ClassCode { get; init; }
    public byte RevisionId { get; init; }
    public ushort SubsystemVendorId { get; init; }
    public ushort SubsystemId { get; init; }
    /// <summary>0 = no INTx, 1..4 = INTA..INTD.</summary>
    public byte InterruptPin { get; init; }
}
