using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// RAID 1: every slot holds the whole volume at the same LBAs. Writes go to every present member; reads
/// go to one member holding valid data, rotating between members request by request (a deterministic
/// stand-in for md's read balancing). The volume survives while one in-sync member remains.
/// </summary>
public sealed class Raid1Volume : RaidVolume
{
    int _nextRead;

    internal Raid1Volume(int id, string name, IReadOnlyList<PhysicalDrive> drives, int chunkBlocks, ILogger logger)
        : base(id, name, RaidLevel.Raid1, drives, chunkBlocks, Capacity(drives, chunkBlocks), 1, logger)
    {
    }

    /// <summary>Volume size in blocks: the smallest member, rounded down to whole rows (the rebuild unit).</summary>
    public static long Capacity(IReadOnlyList<PhysicalDrive> drives, int chunkBlocks) =>
        drives.Min(d => d.BlockCount) / chunkBlocks * chunkBlocks;

    public override int FaultTolerance => MemberCount - 1;

    public override RaidLocation Locate(long lba, int copy = 0) => new(copy, lba);

    private protected override bool ReadOnce(long lba, int count, Span<byte> destination)
    {
        int start = _nextRead;
        _nextRead = (_nextRead + 1) % MemberCount;
        var walk = new PieceWalk(lba, count, ChunkBlocks);
        while (walk.MoveNext())
        {
            long at = walk.Lba;
            long row = walk.Unit;
            int n = walk.Length;
            int slot = -1;
            for (int k = 0; k < MemberCount; k++)
            {
                int candidate = (start + k) % MemberCount;
                if (Readable(candidate, row))
                {
                    slot = candidate;
                    break;
                }
            }
            if (slot < 0)
                return false; // unreachable while the volume is not failed
            if (!DriveRead(slot, at, n, destination.Slice(walk.Done * BlockSize, n * BlockSize)))
                return false;
        }
        return true;
    }

    private protected override bool WriteOnce(long lba, int count, ReadOnlySpan<byte> source)
    {
        for (int slot = 0; slot < MemberCount; slot++)
        {
            if (Writable(slot) && !DriveWrite(slot, lba, count, source))
                return false;
        }
        return true;
    }

    private protected override bool ZeroOnce(long lba, int count)
    {
        for (int slot = 0; slot < MemberCount; slot++)
        {
            if (Writable(slot) && !DriveTrim(slot, lba, count))
                return false;
        }
        return true;
    }

    private protected override bool RebuildRow(long row)
    {
        int source = -1;
        for (int slot = 0; slot < MemberCount && source < 0; slot++)
        {
            if (Readable(slot, row))
                source = slot;
        }
        if (source < 0)
            return false;
        Span<byte> buffer = Scratch(0);
        long lba = row * ChunkBlocks;
        for (int offset = 0; offset < ChunkBlocks; offset += WindowBlocks)
        {
            int n = Math.Min(WindowBlocks, ChunkBlocks - offset);
            Span<byte> data = buffer[..(n * BlockSize)];
            if (!DriveRead(source, lba + offset, n, data))
                return false;
            for (int slot = 0; slot < MemberCount; slot++)
            {
                if (RebuildTarget(slot, row) && !DriveWrite(slot, lba + offset, n, data))
                    return false;
            }
        }
        return true;
    }

    private protected override bool IsRecoverable()
    {
        foreach (MemberSlot slot in Slots)
        {
            if (slot.State == MemberState.InSync)
                return true;
        }
        return false;
    }
}
