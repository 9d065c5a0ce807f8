"""What the mock departments answered for the first page of each dialect at the benchmark smoke test's inventory
(scale 0.05, anchored on 2026-10-01), recorded once and kept as literals, so that the memoised renderers are compared
with fixed bytes rather than with another run of themselves. Regenerate only for a deliberate change of a dialect."""

from __future__ import annotations

from typing import Any

WATER_FIRST_PAGE: Any = {'code': 0,
 'msg': 'ok',
 'data': {'page': 1,
          'size': 1,
          'total': 382,
          'records': [{'facility_code': '3708110101000001',
                       'type_code': '0101',
                       'type_name': '上水井盖',
                       'facility_name': '环城北路上水井盖1号',
                       'state': '完好',
                       'district_code': '370811',
                       'district_name': '任城区',
                       'grid_code': '370811015090009',
                       'road_name': '环城北路',
                       'gcj_lng': 116.620508,
                       'gcj_lat': 35.4726737,
                       'dept_name': '济宁市城乡水务局',
                       'owner_name': '济宁市供排水有限公司',
                       'owner_credit_code': '91370800MA3C4Y1P8G',
                       'maintainer_name': '济宁市市政工程养护中心',
                       'maintainer_credit_code': '123708004946201XK9',
                       'data_source': '实测',
                       'update_time': '2025-12-18 11:01:00',
                       'attrs': {'material': '复合材料', 'shape': '方形', 'diameter_mm': 700},
                       'latest': None}]}}

HOUSING_FIRST_PAGE: Any = {'results': [{'objectId': '3708110602000001',
              'kind': 'constructionSite',
              'classCode': '0602',
              'className': '工地',
              'name': '红星路工地1号',
              'status': 4,
              'statusText': '占用',
              'regionCode': '370811',
              'gridCode': '370811005040002',
              'geometry': {'type': 'Point', 'coordinates': [116.5027282, 35.4009884]},
              'competentAuthority': '济宁市住房和城乡建设局',
              'owner': {'name': '济宁市房屋维修管理中心', 'creditCode': '12370800494580123P'},
              'maintainer': {'name': '济宁城建投资集团有限公司', 'creditCode': '91370800MA3CFB9T6N'},
              'modifiedAt': '2025-11-14T19:51:00+08:00',
              'permitNo': '3708112026604292',
              'contractor': {'name': '济宁市政工程有限公司'},
              'startDate': '2026-06-01',
              'plannedCompletion': '2028-03-19',
              'dust': {'pm10': 35.9, 'unit': 'µg/m³'},
              'noise': {'value': 47.1, 'unit': 'dB(A)'},
              'observedAt': '2026-09-30T23:51:00+08:00'}],
 'count': 160,
 'offset': 0,
 'limit': 1}

TRANSPORT_FIRST_PAGE: Any = {'items': [{'assetId': '3708110201000001',
            'classCode': '0201',
            'assetName': '火炬路停车场1号',
            'condition': 'GOOD',
            'areaCode': '370811',
            'gridId': '370811005030011',
            'position': {'bdLng': 116.5395381, 'bdLat': 35.4017884},
            'managingUnit': {'name': '济宁市公共交通集团有限公司', 'uscc': '9137080016580932X7'},
            'maintenanceUnit': {'name': '济宁市交通设施养护中心', 'uscc': '12370800MB1852372N'},
            'authority': '济宁市交通运输局',
            'lastModified': '2026-09-14T06:10:00Z',
            'parking': {'totalSpaces': 133,
                        'freeSpaces': 72,
                        'hourlyFeeCents': 300,
                        'observedAt': '2026-09-30T15:18:00Z'}}],
 'nextCursor': 'MzcwODExMDIwMTAwMDAwMQ==',
 'totalCount': 124}

GAS_FIRST_PAGE: Any = [{'deviceNo': '3708110111000001',
  'category': '0111',
  'deviceName': '济安桥路燃气井盖1号',
  'status': 'FQ',
  'areaCode': '370811',
  'gridNo': '370811014060016',
  'x': 460838.384,
  'y': 3926526.199,
  'company': '济宁港华燃气有限公司',
  'modifiedAt': '2026-03-07T01:38:00+08:00',
  'spec': {'caizhi': '铸铁', 'xingzhuang': '圆形', 'koujing': 600}}]

ENVIRONMENT_FIRST_PAGE = (
    '<?xml version="1.0" encoding="utf-8"?><StationResult xmlns="http://tempuri.org/"><Total>4</Total><Pa'
    'geIndex>1</PageIndex><PageSize>1</PageSize><Stations><Station><StationCode>3708110308000001</Station'
    'Code><StationName>红星路环境监测站1号</StationName><TypeCode>0308</TypeCode><TypeName>环境监测站</TypeName><Region'
    'Code>370811</RegionCode><GridCode>370811010090019</GridCode><Longitude>116.5759993</Longitude><Latit'
    'ude>35.4463654</Latitude><Status>正常</Status><Authority>济宁市生态环境局</Authority><OwnerName>济宁市生态环境监测中心</O'
    'wnerName><OwnerUSCC>1237080049451902H8</OwnerUSCC><MaintainerName>山东省环境监测运维有限公司</MaintainerName><Mai'
    'ntainerUSCC>91370000MA3N7G2Q14</MaintainerUSCC><UpdateTime>2026/08/04 02:58:00</UpdateTime><DataTime'
    '>2026/09/30 23:06:00</DataTime><AQI>51</AQI><PM25>31.6</PM25><PM10>50.6</PM10><SO2>10.2</SO2><NO2>26'
    '.5</NO2><O3>60</O3><CO>0.56</CO><Quality>良</Quality><HourlyData><Hour Time="2026/09/30 23:06:00"><AQ'
    'I>51</AQI><PM25>31.6</PM25><PM10>50.6</PM10><SO2>10.2</SO2><NO2>26.5</NO2><O3>60</O3><CO>0.56</CO></'
    'Hour></HourlyData></Station></Stations></StationResult>'
)
