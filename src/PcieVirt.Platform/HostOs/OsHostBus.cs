using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;

namespace PcieVirt.Platform.HostOs;

/// <summary>
/// A driver's view of one function as the host OS gives it: config requests through ECAM, MMIO routed by
/// the fabric, and BAR addresses from the OS's resource records. For a PF that is what the BAR holds;
/// for a VF, whose own BARs read 0, it is the slice of the PF's VF BAR (as Linux's VF resources are).
/// </summary>
public sealed class OsHostBus(HostSystem host, PciAddress function) : INvmeHostBus
{
    readonly FabricHostBus _fabric = new(host.RootComplex, function);

    public string Name => _fabric.Name;
    public uint ConfigRead(int offset, int width) => _fabric.ConfigRead(offset, width);
    public void ConfigWrite(int offset, int width, uint value) => _fabric.ConfigWrite(offset, width, value);
    public CompletionStatus MemoryRead(ulong address, Span<byte> data) => _fabric.MemoryRead(address, data);
    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data) => _fabric.MemoryWrite(address, data);
    public long InterruptCount(byte vector) => _fabric.InterruptCount(vector);

    public ulong BarAddress(int index)
    {
        if (host.Describe(function) is not { } info || (uint)index >= (uint)info.Bars.Count) return _fabric.BarAddress(index);
        var bar = info.Bars[index];
        return bar.Size == 0 || (bar.Base & 1) != 0 ? 0 : bar.Base & ~0xFUL; // memory BARs only; flag bits off
    }
}
