using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.FuzzTargets;

/// <summary>
/// Raw submission entries to the default platform's RAID controller PF (its NVMe controller). Input layout:
/// byte 0 = flags (bit 0: admin queue instead of I/O queue 1), byte 1 = entry count - 1 (mod 8), then that many
/// 64-byte entries, then bytes copied to the data window in host RAM (PRP lists, DSM ranges, write data). A PRP
/// field with bit 63 clear is moved into the data window (its offset kept, so misalignment survives); with bit
/// 63 set the low 63 bits are used as they are (queues, MMIO, past the end of RAM). The command identifier of each
/// entry is the driver's, so completions can be matched. After the doorbell, every command must complete with a
/// status, or the controller must report Controller Fatal Status (NVMe Base Spec 3.1.3.2 / 9.5).
/// </summary>
public sealed class NvmeTarget : IFuzzTarget
{
    /// <summary>Where PRPs without bit 63 point: a 1 MiB window of host RAM the driver does not use.</summary>
    public const ulong DataWindow = 0x400_0000, DataWindowSize = 0x10_0000;
    const ulong DriverBase = 0x100_0000, DriverSize = 0x200_0000;
    /// <summary>Header bytes before the entries.</summary>
    public const int HeaderSize = 2;

    readonly RootComplex _rc;
    readonly NvmeEndpointFunction _pf;
    readonly byte[] _entry = new byte[NvmeCommand.Size];

    /// <summary>Builds and boots the default platform once; each input gets a freshly initialised driver.</summary>
    public NvmeTarget()
    {
        var system = PcieSystem.Boot(PlatformModel.LoadDefault());
        _rc = system.Hosts[0].RootComplex;
        _pf = _rc.Functions().Select(a => _rc.FindFunction(a.Bdf)).OfType<NvmeEndpointFunction>().FirstOrDefault()
            ?? throw new InvalidOperationException("the default model has no NVMe PF");
        if (_rc.HostMemory.Size < DataWindow + DataWindowSize) throw new InvalidOperationException("host RAM too small for the harness");
    }

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < HeaderSize + NvmeCommand.Size) return;
        var controller = _pf.Controller;
        // CC.EN 1 -> 0 resets the controller and deletes every queue (NVMe Base Spec 3.5.2), so each input starts
        // from the same state however the one before it ended.
        var driver = new NvmeDriver(_rc, _pf.Bdf, new HostMemoryAllocator(_rc.HostMemory, DriverBase, DriverSize),
            new NvmeDriverOptions { AdminQueueEntries = 16, IoQueueEntries = 16, IoQueuePairs = 1, MaxPolls = 8, Pump = () => controller.ProcessPending() });
        try
        {
            driver.Initialize();
        }
        catch (Exception e)
        {
            throw new HarnessException($"driver bring-up failed: {e.GetType().Name}: {e.Message}", e);
        }

        bool admin = (input[0] & 1) != 0;
        var q = admin ? driver.AdminQueue! : driver.IoQueues[0];
        int count = Math.Min(input[1] % 8 + 1, (input.Length - HeaderSize) / NvmeCommand.Size);
        var rest = input[(HeaderSize + count * NvmeCommand.Size)..];
        if (rest.Length > 0) _rc.HostMemory.Write(DataWindow, rest[..(int)Math.Min((ulong)rest.Length, DataWindowSize)]);

        int expected = 0;
        var outstanding = new HashSet<ushort>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                input.Slice(HeaderSize + i * NvmeCommand.Size, NvmeCommand.Size).CopyTo(_entry);
                ulong slot = q.SqBase + (ulong)(q.SqTail * NvmeCommand.Size);
                ushort cid = driver.Enqueue(q, default);
                BinaryPrimitives.WriteUInt16LittleEndian(_entry.AsSpan(2), cid);
                MapPrp(_entry.AsSpan(24));
                MapPrp(_entry.AsSpan(32));
                _rc.HostMemory.Write(slot, _entry);
                // Asynchronous Event Requests stay outstanding until an event happens (NVMe Base Spec 5.2).
                if (!(admin && _entry[0] == NvmeAdminOpcode.AsynchronousEventRequest)) { outstanding.Add(cid); expected++; }
            }
            driver.RingSqDoorbell(q);
            for (int i = 0; i < 64 && controller.ProcessPending() > 0; i++) { }
            while (driver.TryReap(q, out var c))
                if (c.SqId == q.Qid) outstanding.Remove(c.CommandId);
        }
        catch (Exception e)
        {
            throw new HarnessException($"{(admin ? "admin" : "I/O")} submission of {count} entries threw {e.GetType().Name}: {e.Message}", e);
        }
        bool fatal = (controller.Csts & 2) != 0;
        if (outstanding.Count > 0 && !fatal && controller.IsReady)
            throw new HarnessException($"{outstanding.Count} of {expected} commands got no completion and CSTS.CFS is clear (CSTS 0x{controller.Csts:x})");
    }

    static void MapPrp(Span<byte> field)
    {
        ulong prp = BinaryPrimitives.ReadUInt64LittleEndian(field);
        prp = (prp & (1UL << 63)) != 0 ? prp & ~(1UL << 63) : DataWindow + prp % DataWindowSize;
        BinaryPrimitives.WriteUInt64LittleEndian(field, prp);
    }
}
