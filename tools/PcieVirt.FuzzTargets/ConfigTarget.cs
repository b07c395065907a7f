using System.Buffers.Binary;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.FuzzTargets;

/// <summary>
/// Config requests from host software against the default platform's root complex. The input is a sequence of
/// 7-byte records: <c>selector, offset:u16, value:u32</c> (little-endian). Bits 0-11 of <c>offset</c> are the
/// register offset (unaligned offsets are kept: they must complete as Unsupported Request), bits 12-13 the width
/// (1, 2, 4 or the invalid 3), bit 14 makes the record a read. The selector picks a function among those that
/// answer at that moment (VFs appear once VF Enable is set); selectors 0xF8-0xFF aim at bus
/// <c>value[3]</c>, devfn <c>value[2]</c> instead, mostly nothing. After the input every function present at boot
/// must still hold its read-only bits (PCIe Base Spec 7.4: RO and HwInit fields cannot be written by software).
/// </summary>
public sealed class ConfigTarget : IFuzzTarget
{
    /// <summary>Bytes per record.</summary>
    public const int RecordSize = 7;

    readonly PlatformModel _model = PlatformModel.LoadDefault();
    RootComplex _rc = null!;
    (PciAddress Address, PciFunction Function, byte[] Snapshot, byte[] RoMask)[] _boot = [];
    bool _dirty = true;

    /// <summary>Systems built so far (one at start, then one after each input that wrote).</summary>
    public int Builds { get; private set; }

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (_dirty) Build();
        try
        {
            RunRecords(input);
            CheckReadOnly();
        }
        finally
        {
            // A config write can change routing, VF population and BAR placement; a fresh system after each
            // writing input keeps every input's outcome (and coverage) independent of the ones before it, which
            // AFL++ needs for stable paths. Rebuilding here, not before the next input, charges the build's
            // coverage to the input that caused it.
            if (_dirty) Build();
        }
    }

    void RunRecords(ReadOnlySpan<byte> input)
    {
        for (int i = 0; i + RecordSize <= input.Length; i += RecordSize)
        {
            var r = input.Slice(i, RecordSize);
            ushort word = BinaryPrimitives.ReadUInt16LittleEndian(r[1..]);
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(r[3..]);
            int offset = word & 0xFFF;
            int width = ((word >> 12) & 3) switch { 0 => 1, 1 => 2, 2 => 4, _ => 3 };
            bool read = (word & 0x4000) != 0;
            PciAddress address;
            if (r[0] >= 0xF8)
            {
                address = new PciAddress(_rc.Segment, new Bdf((ushort)((value >> 16) & 0xFFFF)));
            }
            else
            {
                var functions = _rc.Functions();
                address = functions[r[0] % functions.Count];
            }
            try
            {
                if (read) _rc.Read(address, offset, width, out _);
                else
                {
                    _rc.Write(address, offset, width, value);
                    _dirty = true;
                }
            }
            catch (Exception e)
            {
                throw new HarnessException($"record {i / RecordSize}: {(read ? "read" : "write")} {address} +0x{offset:x3} w{width} = 0x{value:x8} threw {e.GetType().Name}: {e.Message}", e);
            }
        }
    }

    void Build()
    {
        var system = PcieSystem.Boot(_model);
        _rc = system.Hosts[0].RootComplex;
        var functions = _rc.Functions();
        var boot = new (PciAddress, PciFunction, byte[], byte[])[functions.Count];
        for (int n = 0; n < functions.Count; n++)
        {
            var f = _rc.FindFunction(functions[n].Bdf) ?? throw new HarnessException($"{functions[n]} listed but not found");
            // The masks of a fresh build are the same every time: compute them once.
            byte[] mask = Builds > 0 && n < _boot.Length ? _boot[n].RoMask : ReadOnlyMask(f);
            boot[n] = (functions[n], f, f.Config.Bytes.ToArray(), mask);
        }
        _boot = boot;
        _dirty = false;
        Builds++;
    }

    void CheckReadOnly()
    {
        foreach (var (address, f, snapshot, mask) in _boot)
        {
            var now = f.Config.Bytes;
            for (int o = 0; o < ConfigSpace.Size; o++)
            {
                if (((now[o] ^ snapshot[o]) & mask[o]) == 0) continue;
                _dirty = true;
                throw new HarnessException($"{address} {f.Name}: read-only bits of config byte 0x{o:x3} changed from 0x{snapshot[o]:x2} to 0x{now[o]:x2} (mask 0x{mask[o]:x2})");
            }
        }
    }

    /// <summary>Bits neither software-writable, RW1C, nor changed by the device itself as a result of software's writes.</summary>
    static byte[] ReadOnlyMask(PciFunction f)
    {
        var c = f.Config;
        var mask = new byte[ConfigSpace.Size];
        for (int o = 0; o < ConfigSpace.Size; o++)
            mask[o] = (byte)~(c.WritableMask(o, 1) | c.W1cMask(o, 1) | DeviceOwned(f, o));
        return mask;
    }

    // Status bits the device updates: Interrupt Status, MSI Pending Bits, Transactions Pending, Link Status,
    // AER status/header log, and the SR-IOV fields the PF recomputes when VF Enable / NumVFs / page size change.
    static byte DeviceOwned(PciFunction f, int offset)
    {
        if (offset == PciRegs.Status) return 1 << 3;
        foreach (var cap in f.Capabilities)
        {
            int r = offset - cap.Offset;
            if (r < 0 || r >= Math.Max(cap.Length, 4)) continue;
            return cap switch
            {
                MsiCapability => r >= 0x10 && r < 0x18 ? (byte)0xFF : (byte)0,
                PciExpressCapability => r == 0x0A ? (byte)(1 << 5) : r is 0x12 or 0x13 or 0x1A or 0x1B ? (byte)0xFF : (byte)0,
                AerCapability => r == 0x18 ? (byte)0x1F : r is >= 0x1C and < 0x2C ? (byte)0xFF : (byte)0,
                SriovCapability => r is (>= 0x08 and < 0x0A) or (>= 0x10 and < 0x18) or (>= 0x20 and < 0x3C) ? (byte)0xFF : (byte)0,
                _ => 0,
            };
        }
        return 0;
    }
}
