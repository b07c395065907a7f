using System.Buffers.Binary;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>Where a CPU's MMIO writes land: the fabric below a root complex, or a device model.</summary>
public interface IMmioTarget
{
    /// <summary>Performs the write of <paramref name="data"/> at <paramref name="address"/>.</summary>
    void Write(ulong address, ReadOnlySpan<byte> data);
}

/// <summary>MMIO writes into the fabric below <paramref name="rootComplex"/> (host physical addresses).</summary>
public sealed class FabricMmioTarget(RootComplex rootComplex) : IMmioTarget
{
    /// <inheritdoc/>
    public void Write(ulong address, ReadOnlySpan<byte> data) => rootComplex.MemoryWrite(address, data);
}

/// <summary>
/// Posted MMIO writes in flight: a CPU's store to a device register retires at once (PCIe posted
/// write), and the device sees it a link traversal later. Each write is kept (up to 8 bytes) until the
/// engine reaches its arrival time, then performed. Pooled: no allocation per write.
/// </summary>
public sealed class PostedWriteQueue(SimEngine engine) : ISimEventHandler
{
    struct Pending
    {
        public IMmioTarget? Target;
        public ulong Address, Value;
        public int Length;
        public int NextFree;
    }

    Pending[] _pool = new Pending[16];
    int _freeHead = -1, _used;

    /// <summary>Writes performed so far.</summary>
    public long Delivered { get; private set; }

    /// <summary>Performs the write of <paramref name="data"/> (1-8 bytes) to <paramref name="target"/> at <paramref name="arrivalNs"/>.</summary>
    public void Post(ulong arrivalNs, IMmioTarget target, ulong address, ReadOnlySpan<byte> data)
    {
        if (data.Length is < 1 or > 8) throw new ArgumentException("a posted MMIO write carries 1 to 8 bytes", nameof(data));
        int i;
        if (_freeHead >= 0)
        {
            i = _freeHead;
            _freeHead = _pool[i].NextFree;
        }
        else
        {
            if (_used == _pool.Length) Array.Resize(ref _pool, _pool.Length * 2);
            i = _used++;
        }
        Span<byte> v = stackalloc byte[8];
        v.Clear();
        data.CopyTo(v);
        _pool[i] = new Pending { Target = target, Address = address, Value = BinaryPrimitives.ReadUInt64LittleEndian(v), Length = data.Length, NextFree = -1 };
        engine.Schedule(arrivalNs, this, 0, i);
    }

    void ISimEventHandler.OnEvent(int tag, long argument)
    {
        int i = (int)argument;
        var p = _pool[i];
        _pool[i] = new Pending { NextFree = _freeHead };
        _freeHead = i;
        Span<byte> v = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(v, p.Value);
        Delivered++;
        p.Target!.Write(p.Address, v[..p.Length]);
    }
}
